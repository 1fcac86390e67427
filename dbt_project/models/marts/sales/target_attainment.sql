-- Attainment per rep x product line x month, under the rep's team and region of the time,
-- against bookings and against collected cash, with run-rate forecasts and pipeline coverage
-- (macro attainment_measures). A target sits under the team as of the month's start, a booking
-- under the team as of its close, a payment under the team as of its paid date, open pipeline
-- under the rep's current team. Every input is full-outer-combined (a spine of all their
-- keys), so a month with bookings, cash or pipeline but no target still appears; a rep who
-- moved team or region within a month has a row under each. Amounts in the reporting currency.
with

targets as (

    select * from {{ ref('fct_targets') }}

),

bookings as (

    select * from {{ ref('fct_bookings') }}

),

payments as (

    select * from {{ ref('fct_payments') }}

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

stages as (

    select * from {{ ref('opportunity_stages') }}

),

sales_reps as (

    select * from {{ ref('dim_sales_rep') }}

),

monthly_targets as (

    select
        rep_id,
        coalesce(team, 'unknown') as team,
        coalesce(region, 'unknown') as region,
        product_line,
        month,
        target_amount_reporting as target_amount

    from targets

),

monthly_bookings as (

    select
        bookings.owner_rep_id as rep_id,
        coalesce(sales_reps.team, 'unknown') as team,
        coalesce(sales_reps.region, 'unknown') as region,
        bookings.product_line,
        bookings.booking_month as month,
        sum(bookings.booking_amount_reporting) as bookings_amount

    from bookings

    left join sales_reps
        on bookings.sales_rep_key = sales_reps.sales_rep_key

    group by 1, 2, 3, 4, 5

),

-- cash by paid date, credited to the invoiced opportunity's owner and product line ('unknown'
-- when the invoice or its opportunity is not known), under the rep's team on the paid date
payments_attributed as (

    select
        coalesce(payments.owner_rep_id, 'unknown') as rep_id,
        coalesce(opportunities.product_line, 'unknown') as product_line,
        payments.paid_on,
        cast(payments.paid_on as timestamp) at time zone '{{ var("reporting_timezone", "UTC") }}'
            as paid_day_starts_at,
        payments.amount_reporting

    from payments

    left join invoices
        on payments.invoice_id = invoices.invoice_id

    left join opportunities
        on invoices.opportunity_id = opportunities.opportunity_id

),

monthly_cash as (

    select
        payments_attributed.rep_id,
        coalesce(sales_reps.team, 'unknown') as team,
        coalesce(sales_reps.region, 'unknown') as region,
        payments_attributed.product_line,
        cast(date_trunc('month', payments_attributed.paid_on) as date) as month,
        sum(payments_attributed.amount_reporting) as cash_collected_amount

    from payments_attributed

    left join sales_reps
        on
            payments_attributed.rep_id = sales_reps.rep_id
            and {{ scd2_valid_at('sales_reps', 'payments_attributed.paid_day_starts_at') }}

    group by 1, 2, 3, 4, 5

),

-- open deals by the month of their expected close, under the owner's current team
monthly_pipeline as (

    select
        opportunities.owner_rep_id as rep_id,
        coalesce(sales_reps.team, 'unknown') as team,
        coalesce(sales_reps.region, 'unknown') as region,
        opportunities.product_line,
        cast(date_trunc('month', opportunities.expected_close_date) as date) as month,
        sum(opportunities.amount_reporting) as open_pipeline_amount,
        sum(
            opportunities.amount_reporting
            * coalesce(stages.win_probability, 0)
        ) as weighted_pipeline_amount

    from opportunities

    left join sales_reps
        on opportunities.owner_rep_id = sales_reps.rep_id and sales_reps.is_current

    -- sales ops' win probability of each open stage (seeds/opportunity_stages.csv)
    left join stages
        on opportunities.stage = stages.stage

    where
        opportunities.is_open
        and opportunities.expected_close_date is not null
        and opportunities.owner_rep_id is not null
        and opportunities.product_line is not null

    group by 1, 2, 3, 4, 5

),

spine as (

    select rep_id, team, region, product_line, month from monthly_targets
    union
    select rep_id, team, region, product_line, month from monthly_bookings
    union
    select rep_id, team, region, product_line, month from monthly_cash
    union
    select rep_id, team, region, product_line, month from monthly_pipeline

),

joined as (

    select
        spine.rep_id,
        spine.team,
        spine.region,
        spine.product_line,
        spine.month,
        cast(spine.month + interval '1 month' - interval '1 day' as date) as month_end,
        coalesce(monthly_targets.target_amount, 0) as target_amount,
        coalesce(monthly_bookings.bookings_amount, 0) as bookings_amount,
        coalesce(monthly_cash.cash_collected_amount, 0) as cash_collected_amount,
        coalesce(monthly_pipeline.open_pipeline_amount, 0) as open_pipeline_amount,
        coalesce(monthly_pipeline.weighted_pipeline_amount, 0) as weighted_pipeline_amount

    from spine

    left join monthly_targets
        using (rep_id, team, region, product_line, month)

    left join monthly_bookings
        using (rep_id, team, region, product_line, month)

    left join monthly_cash
        using (rep_id, team, region, product_line, month)

    left join monthly_pipeline
        using (rep_id, team, region, product_line, month)

),

current_reps as (

    select
        rep_id,
        rep_name

    from sales_reps

    where is_current

),

final as (

    select
        cast(joined.rep_id as text) as rep_id,
        cast(current_reps.rep_name as text) as rep_name,
        cast(joined.team as text) as team,
        cast(joined.region as text) as region,
        cast(joined.product_line as text) as product_line,
        cast(joined.month as date) as month,
        cast(joined.month_end as date) as month_end,
        {{ attainment_measures('joined.month', 'joined.month_end') }}

    from joined

    left join current_reps
        on joined.rep_id = current_reps.rep_id

)

select * from final
