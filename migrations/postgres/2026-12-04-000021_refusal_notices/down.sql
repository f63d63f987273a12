DROP TABLE refusal_notices;
