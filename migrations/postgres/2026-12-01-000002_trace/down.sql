CREATE INDEX lot_inputs_by_input ON lot_inputs (input_gtin, input_lot);
DROP INDEX lot_inputs_backward;
DROP INDEX lot_inputs_forward;
