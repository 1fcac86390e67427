-- The backtest's total row adds up its segment rows (customers, predicted and actual margin).
select
    totals.customers,
    sum(segments.customers) as segment_customers
from {{ ref('clv_backtest') }} as totals
cross join {{ ref('clv_backtest') }} as segments
where totals.is_total and not segments.is_total
group by totals.customers, totals.predicted_margin, totals.actual_margin
having
    totals.customers != sum(segments.customers)
    or abs(totals.predicted_margin - sum(segments.predicted_margin)) >= 0.01 * count(*)
    or abs(totals.actual_margin - sum(segments.actual_margin)) >= 0.01 * count(*)
