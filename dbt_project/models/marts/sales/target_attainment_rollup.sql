-- Attainment rolled up from target_attainment's months: per level (rep, team, region) x
-- product line x period (month, calendar quarter and year, fiscal quarter and year). Targets,
-- bookings, cash and pipeline of a period are the sums of its months (a quarter's target is the
-- sum of its monthly targets); rates, forecasts and coverage are recomputed on those sums
-- (macro attainment_measures), never averaged. A rep's rows add up the teams the rep was in;
-- a team's and a region's are the rows that were under it at the time.
with

monthly as (

    select * from {{ ref('target_attainment') }}

),

periods as (

    select * from {{ ref('int_attainment_periods') }}

),

levels as (

    select 'rep' as level, rep_id as member_id, rep_name as member_name, monthly.*
    from monthly

    union all

    select 'team' as level, monthly.team as member_id, monthly.team as member_name, monthly.*
    from monthly

    union all

    select 'region' as level, monthly.region as member_id, monthly.region as member_name, monthly.*
    from monthly

),

aggregated as (

    select
        levels.level,
        levels.member_id,
        max(levels.member_name) as member_name,
        levels.product_line,
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.period_label,
        count(distinct levels.month) as months_with_data,
        sum(levels.target_amount) as target_amount,
        sum(levels.bookings_amount) as bookings_amount,
        sum(levels.cash_collected_amount) as cash_collected_amount,
        sum(levels.open_pipeline_amount) as open_pipeline_amount,
        sum(levels.weighted_pipeline_amount) as weighted_pipeline_amount

    from levels

    inner join periods
        on levels.month = periods.month

    group by
        levels.level,
        levels.member_id,
        levels.product_line,
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.period_label

),

final as (

    select
        cast(level as text) as level,
        cast(member_id as text) as member_id,
        cast(member_name as text) as member_name,
        cast(product_line as text) as product_line,
        cast(period_type as text) as period_type,
        cast(period_start as date) as period_start,
        cast(period_end as date) as period_end,
        cast(period_label as text) as period_label,
        cast(months_with_data as integer) as months_with_data,
        {{ attainment_measures('period_start', 'period_end') }}

    from aggregated

)

select * from final
