-- Trace: a closure is walked one depth level at a time, each level one query over the lineage
-- edges of the whole frontier. Both directions read only an index: forward from the input side
-- (this replaces lot_inputs_by_input, its prefix), backward from the output side (the primary
-- key, which lacks the linking record's log_index).
CREATE INDEX lot_inputs_forward ON lot_inputs (input_gtin, input_lot, gtin, lot, log_index);
CREATE INDEX lot_inputs_backward ON lot_inputs (gtin, lot, input_gtin, input_lot, log_index);
DROP INDEX lot_inputs_by_input;
