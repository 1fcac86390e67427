-- Bookings: the amount of opportunities won (stage closed_won), dated by their actual close
-- date. The one definition of a booking, shared by every mart (through fct_bookings). A won deal
-- the CRM gives no amount is no booking, never one of 0: it still counts as won where deals are
-- counted (win rates, the funnel), is flagged in staging (is_won_without_amount) and counted by
-- `salesdw summary`.
with

opportunities as (

    select * from {{ ref('int_opportunities_timed') }}

),

won as (

    select
        opportunity_id,
        account_id,
        owner_rep_id,
        product_line,
        lead_source,
        amount as booking_amount,
        currency,
        created_at,
        closed_at,
        closed_date as booking_date,
        closed_month as booking_month,
        days_to_close as signing_cycle_days,
        _loaded_at

    from opportunities

    where is_won and amount is not null

),

final as (

    select * from won

)

select * from final
