-- Attainment rate: bookings / target per rep x product line x month. Full outer join, so a
-- month with bookings but no target (and a target with no bookings) still appears.
with

targets as (

    select * from {{ ref('stg_crm__targets') }}

),

bookings as (

    select * from {{ ref('int_opportunities_won') }}

),

reps as (

    select * from {{ ref('stg_crm__reps') }}

),

monthly_targets as (

    select
        rep_id,
        product_line,
        target_month as month,
        sum(target_amount) as target_amount

    from targets

    group by
        rep_id,
        product_line,
        target_month

),

monthly_bookings as (

    select
        owner_rep_id as rep_id,
        product_line,
        booking_month as month,
        sum(booking_amount) as bookings_amount

    from bookings

    group by
        owner_rep_id,
        product_line,
        booking_month

),

targets_and_bookings as (

    select
        coalesce(monthly_targets.rep_id, monthly_bookings.rep_id) as rep_id,
        coalesce(monthly_targets.product_line, monthly_bookings.product_line) as product_line,
        coalesce(monthly_targets.month, monthly_bookings.month) as month,
        coalesce(monthly_targets.target_amount, 0) as target_amount,
        coalesce(monthly_bookings.bookings_amount, 0) as bookings_amount

    from monthly_targets

    full outer join monthly_bookings
        on
            monthly_targets.rep_id = monthly_bookings.rep_id
            and monthly_targets.product_line = monthly_bookings.product_line
            and monthly_targets.month = monthly_bookings.month

),

final as (

    select
        cast(targets_and_bookings.rep_id as text) as rep_id,
        cast(reps.rep_name as text) as rep_name,
        cast(reps.team as text) as team,
        cast(reps.region as text) as region,
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

    left join reps
        on targets_and_bookings.rep_id = reps.rep_id

)

select * from final
