-- Grafana 10 PostgreSQL data source, query builder: the schema, table and column lists it
-- reads (public/app/plugins/datasource/grafana-postgresql-datasource, postgresMetaQuery.ts and
-- the SQL datasource's showTables/getColumns). Grafana is not a Debian package, so these are
-- written from its source, not captured; capture.sh does not re-capture them.
SELECT quote_ident(schema_name) FROM information_schema.schemata WHERE schema_name NOT LIKE 'pg_%' AND schema_name NOT LIKE '\_%' AND schema_name <> 'information_schema';

select quote_ident(table_name) as "table" from information_schema.tables
    where quote_ident(table_schema) not in ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
      and table_type = 'BASE TABLE' and quote_ident(table_schema) IN (SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
  );

select quote_ident(column_name) as "column", data_type as "type"
    from information_schema.columns
    where quote_ident(table_name) = 'processes';

SELECT quote_ident(column_name) AS column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'processes' AND data_type IN ('timestamp with time zone','timestamp without time zone','date','bigint','integer','double precision','real','numeric') ORDER BY column_name;
