-- Attainment rate: bookings / target per rep x product line x month, under the rep's team and
-- region of the time: a target under the team as of the month's start, a booking under the
-- team as of its close. Full outer join, so a month with bookings but no target (and a target
-- with no bookings) still appears; a rep who moved team or region within a month has a row
-- under each.
with

targets as (

    select * from {{ ref('fct_targets') }}

),

bookings as (

    select * from {{ ref('fct_bookings') }}

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
        target_amount

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

    group by
        bookings.owner_rep_id,
        coalesce(sales_reps.team, 'unknown'),
        coalesce(sales_reps.region, 'unknown'),
        bookings.product_line,
        bookings.booking_month

),

targets_and_bookings as (

    select
        coalesce(monthly_targets.rep_id, monthly_bookings.rep_id) as rep_id,
        coalesce(monthly_targets.team, monthly_bookings.team) as team,
        coalesce(monthly_targets.region, monthly_bookings.region) as region,
        coalesce(monthly_targets.product_line, monthly_bookings.product_line) as product_line,
        coalesce(monthly_targets.month, monthly_bookings.month) as month,
        coalesce(monthly_targets.target_amount, 0) as target_amount,
        coalesce(monthly_bookings.bookings_amount, 0) as bookings_amount

    from monthly_targets

    full outer join monthly_bookings
        on
            monthly_targets.rep_id = monthly_bookings.rep_id
            and monthly_targets.team = monthly_bookings.team
            and monthly_targets.region = monthly_bookings.region
            and monthly_targets.product_line = monthly_bookings.product_line
            and monthly_targets.month = monthly_bookings.month

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
        cast(targets_and_bookings.rep_id as text) as rep_id,
        cast(current_reps.rep_name as text) as rep_name,
        cast(targets_and_bookings.team as text) as team,
        cast(targets_and_bookings.region as text) as region,
        cast(targets_and_bookings.product_line as text) as product_line,
        cast(targets_and_bookings.month as date) as month,
        cast(targets_and_bookings.target_amount as numeric(18, 2)) as target_amount,
        cast(targets_and_bookings.bookings_amount as numeric(18, 2)) as bookings_amount,
        cast(
            targets_and_bookings.bookings_amount
            / nullif(targets_and_bookings.target_amount, 0)
            as numeric(9, 4)
        ) as attainment_rate,
        cast(
            targets_and_bookings.target_amount - targets_and_bookings.bookings_amount
            as numeric(18, 2)
        ) as gap_to_target

    from targets_and_bookings

    left join current_reps
        on targets_and_bookings.rep_id = current_reps.rep_id

)

select * from final
