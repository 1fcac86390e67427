-- The bookings definition holds in the facts: every won opportunity of fct_opportunities is in
-- fct_bookings exactly once, with its amount and close date, and fct_bookings holds nothing
-- else. Returns one row per opportunity that breaks it.
with

won_opportunities as (

    select
        opportunity_id,
        amount,
        closed_date

    from {{ ref('fct_opportunities') }}

    where is_won

),

bookings as (

    select
        opportunity_id,
        count(*) as booking_rows,
        sum(booking_amount) as booking_amount,
        min(booking_date) as booking_date

    from {{ ref('fct_bookings') }}

    group by opportunity_id

),

final as (

    select
        coalesce(won_opportunities.opportunity_id, bookings.opportunity_id) as opportunity_id,
        won_opportunities.amount,
        won_opportunities.closed_date,
        bookings.booking_rows,
        bookings.booking_amount,
        bookings.booking_date

    from won_opportunities

    full outer join bookings
        on won_opportunities.opportunity_id = bookings.opportunity_id

    where
        won_opportunities.opportunity_id is null
        or bookings.opportunity_id is null
        or bookings.booking_rows <> 1
        or bookings.booking_amount is distinct from won_opportunities.amount
        or bookings.booking_date is distinct from won_opportunities.closed_date

)

select * from final
