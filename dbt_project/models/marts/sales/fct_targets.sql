-- Sales targets: one row per rep x product line x month, as set (amount and currency) and in
-- the reporting currency (rate of the month's first day), with the rep's team and region as of
-- the first day of the month (targets are set top-down before the month starts).
with

targets as (

    select * from {{ ref('stg_crm__targets') }}

    where is_deleted is not true

),

sales_reps as (

    select * from {{ ref('dim_sales_rep') }}

),

converted_targets as (

    select
        targets.rep_id,
        targets.product_line,
        targets.target_month,
        targets.target_amount,
        targets.currency,
        {{ to_reporting_currency('targets.target_amount', 'fx') }} as target_amount_reporting

    from targets

    {{ join_fx_rate('fx', 'targets.currency', 'targets.target_month') }}

),

-- the amount as set is only summed when the rep's targets for the month share one currency
monthly_targets as (

    select
        rep_id,
        product_line,
        target_month as month,
        -- the month's first instant in the reporting time zone
        cast(target_month as timestamp) at time zone '{{ var("reporting_timezone", "UTC") }}'
            as month_starts_at,
        case when count(distinct currency) = 1 then sum(target_amount) end as target_amount,
        case when count(distinct currency) = 1 then min(currency) end as currency,
        -- null (and reported by assert_every_amount_has_an_fx_rate) when any target has no rate
        case
            when count(*) = count(target_amount_reporting) then sum(target_amount_reporting)
        end as target_amount_reporting

    from converted_targets

    group by
        rep_id,
        product_line,
        target_month

),

final as (

    select
        cast(monthly_targets.rep_id as text) as rep_id,
        cast(monthly_targets.product_line as text) as product_line,
        cast(monthly_targets.month as date) as month,
        cast(sales_reps.sales_rep_key as text) as sales_rep_key,
        cast(sales_reps.team as text) as team,
        cast(sales_reps.region as text) as region,
        cast(monthly_targets.target_amount as numeric(18, 2)) as target_amount,
        cast(monthly_targets.currency as text) as currency,
        cast(monthly_targets.target_amount_reporting as numeric(18, 2)) as target_amount_reporting

    from monthly_targets

    left join sales_reps
        on
            monthly_targets.rep_id = sales_reps.rep_id
            and {{ scd2_valid_at('sales_reps', 'monthly_targets.month_starts_at') }}

)

select * from final
