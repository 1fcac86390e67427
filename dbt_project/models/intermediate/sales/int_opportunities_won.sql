-- Bookings: the amount of opportunities won (stage closed_won), dated by their actual close
-- date. The one definition of a booking, shared by every mart.
with

opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

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
        cast(date_trunc('month', closed_date) as date) as booking_month,
        closed_date - {{ to_reporting_date('created_at') }} as signing_cycle_days

    from opportunities

    where is_won

),

final as (

    select * from won

)

select * from final
