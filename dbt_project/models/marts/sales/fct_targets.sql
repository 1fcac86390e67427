-- Sales targets: one row per rep x product line x month, in the reporting currency, with the
-- rep's team and region as of the first day of the month (targets are set top-down before
-- the month starts).
with

targets as (

    select * from {{ ref('stg_crm__targets') }}

    where is_deleted is not true

),

sales_reps as (

    select * from {{ ref('dim_sales_rep') }}

),

monthly_targets as (

    select
        rep_id,
        product_line,
        target_month as month,
        -- the month's first instant in the reporting time zone
        cast(target_month as timestamp) at time zone '{{ var("reporting_timezone", "UTC") }}'
            as month_starts_at,
        sum(
            {{ to_reporting_currency('target_amount', 'currency', 'target_month') }}
        ) as target_amount

    from targets

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
        cast(monthly_targets.target_amount as numeric(18, 2)) as target_amount

    from monthly_targets

    left join sales_reps
        on
            monthly_targets.rep_id = sales_reps.rep_id
            and {{ scd2_valid_at('sales_reps', 'monthly_targets.month_starts_at') }}

)

select * from final
