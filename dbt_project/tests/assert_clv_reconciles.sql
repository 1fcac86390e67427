-- customer_lifetime_value adds up to the facts for its customers (accounts not deleted in the
-- CRM): historical revenue to fct_bookings closed by the run date, cash collected to
-- fct_payments (reporting currency); on the bookings basis (no cost feed) its historical value,
-- gross_margin, to the same bookings. Fails with the measure and both totals when they differ
-- by a cent.
with

customers as (

    select * from {{ ref('customer_lifetime_value') }}

),

bookings as (

    select * from {{ ref('fct_bookings') }}
    where booking_date <= {{ get_run_date() }}

),

payments as (

    select * from {{ ref('fct_payments') }}

),

checks as (

    select
        'bookings_amount' as measure,
        (select coalesce(sum(bookings_amount), 0) from customers) as clv_total,
        coalesce(sum(booking_amount_reporting), 0) as fact_total
    from bookings
    where account_id in (select customer_id from customers)

    union all

    select
        'cash_collected' as measure,
        (select coalesce(sum(cash_collected), 0) from customers) as clv_total,
        coalesce(sum(amount_reporting), 0) as fact_total
    from payments
    where account_id in (select customer_id from customers)

    union all

    select
        'gross_margin on the bookings basis' as measure,
        (select coalesce(sum(gross_margin), 0) from customers where value_basis = 'bookings') as clv_total,
        coalesce(sum(booking_amount_reporting), 0) as fact_total
    from bookings
    where account_id in (select customer_id from customers where value_basis = 'bookings')

)

select * from checks
where abs(clv_total - fact_total) >= 0.01
