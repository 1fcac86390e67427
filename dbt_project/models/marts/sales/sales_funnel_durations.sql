-- Medians of the funnel by month and by the common slices (they cannot be summed from
-- sales_funnel): days spent in each stage, by the month of the stage entry, and the signing
-- cycle (days from creation to won), by the month of the win.
with

stage_history as (

    select * from {{ ref('fct_opportunity_stage_history') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_timed') }}

),

sales_reps as (

    select * from {{ ref('dim_sales_rep') }}

),

funnel_stages as (

    {{ opportunity_funnel_stages() }}

),

stage_durations as (

    select
        stage_history.stage,
        stage_history.entered_at as measured_at,
        cast(date_trunc('month', stage_history.entered_date) as date) as month,
        opportunities.owner_rep_id,
        opportunities.product_line,
        opportunities.lead_source,
        stage_history.days_in_stage as days

    from stage_history

    inner join funnel_stages
        on stage_history.stage = funnel_stages.stage

    -- inner: an opportunity deleted in the CRM is not in int_opportunities_timed
    inner join opportunities
        on stage_history.opportunity_id = opportunities.opportunity_id

    where stage_history.days_in_stage is not null

),

signing_cycles as (

    select
        stage,  -- the won stage
        closed_at as measured_at,
        closed_month as month,
        owner_rep_id,
        product_line,
        lead_source,
        days_to_close as days

    from opportunities

    where is_won and days_to_close is not null and closed_month is not null

),

durations as (

    select * from stage_durations
    union all
    select * from signing_cycles

),

durations_sliced as (

    select
        durations.stage,
        durations.month,
        durations.days,
        coalesce(durations.owner_rep_id, 'unknown') as rep,
        coalesce(sales_reps.team, 'unknown') as team,
        coalesce(sales_reps.region, 'unknown') as region,
        coalesce(durations.product_line, 'unknown') as product_line,
        coalesce(durations.lead_source, 'unknown') as lead_source

    from durations

    left join sales_reps
        on
            durations.owner_rep_id = sales_reps.rep_id
            and {{ scd2_valid_at('sales_reps', 'durations.measured_at') }}

),

aggregated as (

    select
        month,
        stage,
        case
            when grouping(region) = 0 then 'region'
            when grouping(team) = 0 then 'team'
            when grouping(rep) = 0 then 'rep'
            when grouping(product_line) = 0 then 'product_line'
            when grouping(lead_source) = 0 then 'lead_source'
            else 'all'
        end as slice_name,
        coalesce(region, team, rep, product_line, lead_source, 'all') as slice_value,
        count(*) as measured_count,
        percentile_cont(0.5) within group (order by days) as median_days,
        avg(days) as avg_days

    from durations_sliced

    group by grouping sets (
        (month, stage),
        (month, stage, region),
        (month, stage, team),
        (month, stage, rep),
        (month, stage, product_line),
        (month, stage, lead_source)
    )

),

final as (

    select
        cast(month as date) as month,
        cast(stage as text) as stage,
        cast(slice_name as text) as slice_name,
        cast(slice_value as text) as slice_value,
        cast(measured_count as integer) as measured_count,
        cast(median_days as numeric(10, 1)) as median_days,
        cast(avg_days as numeric(10, 1)) as avg_days

    from aggregated

)

select * from final
