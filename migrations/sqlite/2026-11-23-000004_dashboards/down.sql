DROP TABLE dashboard_series;
DROP TABLE dashboard_running;
DROP TABLE dashboard_daily;
DROP INDEX records_by_actor;
DELETE FROM settings WHERE name = 'dashboard_rollups';
