-- SQLDump: the result of this query becomes a .csv or .parquet file
SELECT region, total, n
FROM {{upstream['totals']}}
ORDER BY region
