-- Bookings reconcile per rep x product line x month: target_attainment's bookings_amount,
-- summed over the teams and regions a rep was in that month, equals the sum of
-- booking_amount_reporting in fct_bookings. Returns one row per grain that differs.
with

attainment as (

    select
        rep_id,
        product_line,
        month,
        sum(bookings_amount) as mart_bookings_amount

    from {{ ref('target_attainment') }}

    group by
        rep_id,
        product_line,
        month

),

bookings as (

    select
        owner_rep_id as rep_id,
        product_line,
        booking_month as month,
        sum(booking_amount_reporting) as fct_bookings_amount

    from {{ ref('fct_bookings') }}

    group by
        owner_rep_id,
        product_line,
        booking_month

),

final as (

    select
        coalesce(attainment.rep_id, bookings.rep_id) as rep_id,
        coalesce(attainment.product_line, bookings.product_line) as product_line,
        coalesce(attainment.month, bookings.month) as month,
        attainment.mart_bookings_amount,
        bookings.fct_bookings_amount

    from attainment

    full outer join bookings
        on
            attainment.rep_id = bookings.rep_id
            and attainment.product_line = bookings.product_line
            and attainment.month = bookings.month

    where coalesce(attainment.mart_bookings_amount, 0) <> coalesce(bookings.fct_bookings_amount, 0)

)

select * from final
