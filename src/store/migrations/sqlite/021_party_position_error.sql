-- Issue 14: each party socket's latest position error ([PA9]), measured by the server from the
-- member's position_report, kept with its measured link so GET /parties/{id} shows it [PA10].
-- position_error_at is epoch milliseconds (server time); both NULL until the first report.
ALTER TABLE party_links ADD COLUMN position_error_ms REAL;
ALTER TABLE party_links ADD COLUMN position_error_at INTEGER;
