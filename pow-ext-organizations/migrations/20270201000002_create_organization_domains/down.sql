DROP TABLE organization_join_requests;
DROP TABLE organization_domains;
