-- Total sales per region: SQLScript creates the product table from its upstream table
DROP TABLE IF EXISTS {{product}};

CREATE TABLE {{product}} AS
SELECT region, SUM(amount) AS total, COUNT(*) AS n
FROM {{upstream['upload']}}
GROUP BY region
ORDER BY region;
