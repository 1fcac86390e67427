-- Funnel counts never grow down the stages: in every row of sales_funnel (one cohort of
-- entries), the entries that advanced, and those that ended won or lost, are never more than
-- the entries. Returns the rows that break it.
select
    entered_month,
    stage,
    rep_id,
    team,
    region,
    product_line,
    lead_source,
    entered_count,
    advanced_count,
    won_count,
    lost_count

from {{ ref('sales_funnel') }}

where
    entered_count <= 0
    or advanced_count < 0
    or won_count < 0
    or lost_count < 0
    or advanced_count > entered_count
    or won_count + lost_count > entered_count
