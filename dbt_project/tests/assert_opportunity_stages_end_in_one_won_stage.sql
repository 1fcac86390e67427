-- The funnel runs over the open stages in stage_order and ends in the won stage: the stage list
-- (seeds/opportunity_stages.csv) has exactly one won stage, ordered after every open stage, and
-- at least one open stage. Returns a row describing what is wrong.
with

stages as (

    select * from {{ ref('opportunity_stages') }}

),

summary as (

    select
        count(*) filter (where outcome = 'won') as won_stages,
        count(*) filter (where outcome = 'open') as open_stages,
        max(stage_order) filter (where outcome = 'open') as last_open_order,
        min(stage_order) filter (where outcome = 'won') as won_order

    from stages

)

select *
from summary
where won_stages <> 1 or open_stages = 0 or won_order is null or won_order <= last_open_order
