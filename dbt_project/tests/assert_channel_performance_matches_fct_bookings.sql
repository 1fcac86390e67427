-- Every booking lands in channel_performance once: per month, its won deals and bookings
-- equal fct_bookings'. Returns the months that differ.
with

channels as (

    select
        month,
        sum(won_opportunities) as won_count,
        sum(bookings_amount) as bookings_amount

    from {{ ref('channel_performance') }}

    group by month

),

bookings as (

    select
        booking_month as month,
        count(*) as won_count,
        coalesce(sum(booking_amount_reporting), 0) as bookings_amount

    from {{ ref('fct_bookings') }}

    group by booking_month

),

final as (

    select
        coalesce(channels.month, bookings.month) as month,
        coalesce(channels.won_count, 0) as channel_won_count,
        coalesce(bookings.won_count, 0) as booking_count,
        coalesce(channels.bookings_amount, 0) as channel_bookings_amount,
        coalesce(bookings.bookings_amount, 0) as bookings_amount

    from channels

    full outer join bookings
        on channels.month = bookings.month

)

select * from final
where
    channel_won_count <> booking_count
    or channel_bookings_amount <> bookings_amount
