-- The funnel's won-stage entries of a month are the bookings of that month: sales_funnel and
-- fct_bookings count the same won deals per month. Returns the months that differ.
with

funnel_won as (

    select
        entered_month as month,
        sum(entered_count) as funnel_won_count

    from {{ ref('sales_funnel') }}

    -- the won stage of seeds/opportunity_stages.csv
    where stage in (select stage from {{ ref('opportunity_stages') }} where outcome = 'won')

    group by entered_month

),

bookings as (

    select
        booking_month as month,
        count(*) as booking_count

    from {{ ref('fct_bookings') }}

    group by booking_month

),

final as (

    select
        coalesce(funnel_won.month, bookings.month) as month,
        coalesce(funnel_won.funnel_won_count, 0) as funnel_won_count,
        coalesce(bookings.booking_count, 0) as booking_count

    from funnel_won

    full outer join bookings
        on funnel_won.month = bookings.month

)

select * from final
where funnel_won_count <> booking_count
