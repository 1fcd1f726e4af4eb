-- PostgreSQL tells the servers that keep records in memory about every change; SQLite has
-- no notifications (and the SQL store keeps no local cache on it): nothing to do.
SELECT 1;
