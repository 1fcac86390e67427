-- Lead-source (channel) quality per channel x month: leads and their conversion, the
-- opportunities and bookings the channel brought, and the historical value of the customers it
-- acquired -- the signal to cut a channel that brings volume but no revenue.
with

leads as (

    select * from {{ ref('stg_crm__leads') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_timed') }}

),

bookings as (

    select * from {{ ref('fct_bookings') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

leads_per_month as (

    select
        coalesce(source_channel, 'unknown') as channel,
        cast(date_trunc('month', created_date) as date) as month,
        count(*) as leads,
        count(*) filter (where is_converted) as converted_leads

    from leads

    where is_deleted is not true and created_date is not null

    group by 1, 2

),

opportunities_per_month as (

    select
        coalesce(lead_source, 'unknown') as channel,
        cast(date_trunc('month', created_date) as date) as month,
        count(*) as opportunities

    from opportunities

    where created_date is not null

    group by 1, 2

),

bookings_per_month as (

    select
        coalesce(lead_source, 'unknown') as channel,
        booking_month as month,
        count(*) as won_opportunities,
        sum(booking_amount_reporting) as bookings_amount

    from bookings

    group by 1, 2

),

-- every customer with its first booking and its bookings to date (the historical revenue of
-- customer_lifetime_value.bookings_amount), under the channel that acquired it
customer_history as (

    select
        bookings.account_id,
        min(bookings.booking_month) as first_booking_month,
        sum(bookings.booking_amount_reporting) as historical_revenue

    from bookings

    group by bookings.account_id

),

customers_per_month as (

    select
        coalesce(accounts.acquisition_channel, 'unknown') as channel,
        customer_history.first_booking_month as month,
        count(*) as customers_acquired,
        avg(customer_history.historical_revenue) as avg_customer_historical_revenue

    from customer_history

    -- inner: an account deleted in the CRM is no acquired customer
    inner join accounts
        on customer_history.account_id = accounts.account_id

    where accounts.is_deleted is not true

    group by 1, 2

),

channel_months as (

    select channel, month from leads_per_month
    union
    select channel, month from opportunities_per_month
    union
    select channel, month from bookings_per_month
    union
    select channel, month from customers_per_month

),

joined as (

    select
        channel_months.channel,
        channel_months.month,
        coalesce(leads_per_month.leads, 0) as leads,
        coalesce(leads_per_month.converted_leads, 0) as converted_leads,
        coalesce(opportunities_per_month.opportunities, 0) as opportunities,
        coalesce(bookings_per_month.won_opportunities, 0) as won_opportunities,
        coalesce(bookings_per_month.bookings_amount, 0) as bookings_amount,
        coalesce(customers_per_month.customers_acquired, 0) as customers_acquired,
        customers_per_month.avg_customer_historical_revenue

    from channel_months

    {{ left_join_each(
        'channel_months',
        ['leads_per_month', 'opportunities_per_month', 'bookings_per_month', 'customers_per_month'],
        ['channel', 'month'],
    ) }}

),

final as (

    select
        cast(channel as text) as channel,
        cast(month as date) as month,
        cast(leads as integer) as leads,
        cast(converted_leads as integer) as converted_leads,
        cast(converted_leads * 1.0 / nullif(leads, 0) as numeric(7, 4)) as lead_conversion_rate,
        cast(opportunities as integer) as opportunities,
        cast(won_opportunities as integer) as won_opportunities,
        cast(bookings_amount as numeric(18, 2)) as bookings_amount,
        cast(customers_acquired as integer) as customers_acquired,
        cast(avg_customer_historical_revenue as numeric(18, 2)) as avg_customer_historical_revenue

    from joined

)

select * from final
