-- What each customer has been worth so far, one row per CRM account that has any order,
-- invoice, payment, ticket, survey or service contract: orders and their margin after product
-- cost, bookings in the last and the previous var clv_trend_months months (declining spend),
-- invoiced and collected cash, after-sales tickets and their cost (var service_cost_per_ticket
-- by priority), CSAT and NPS, and whether the latest service contract lapsed.
-- Records deleted in the source are already out of every input.
{%- set trend = clv_var('clv_trend_months') %}

with

orders as (

    select * from {{ ref('int_customer_orders_margined') }}

),

invoices as (

    select * from {{ ref('int_invoices_collected') }}

),

payments as (

    select * from {{ ref('fct_payments') }}

),

tickets as (

    select * from {{ ref('int_tickets_timed') }}

),

surveys as (

    select * from {{ ref('int_surveys_scored') }}

),

service_contracts as (

    select * from {{ ref('stg_after_sales__service_contracts') }}

),

orders_per_account as (

    select
        account_id,
        min(booking_date) as first_order_date,
        max(booking_date) as last_order_date,
        count(*) as order_count,
        sum(revenue) as bookings_amount,
        sum(product_cost) as product_cost,
        sum(gross_margin) as gross_margin,
        coalesce(sum(revenue) filter (
            where booking_date > {{ clv_months_before(get_run_date(), trend) }}
        ), 0) as bookings_recent,
        coalesce(sum(revenue) filter (
            where booking_date > {{ clv_months_before(get_run_date(), 2 * trend) }}
            and booking_date <= {{ clv_months_before(get_run_date(), trend) }}
        ), 0) as bookings_prior

    from orders

    where booking_date <= {{ get_run_date() }}

    group by account_id

),

invoices_per_account as (

    select
        account_id,
        sum(net_amount) as invoiced_amount

    from invoices

    group by account_id

),

payments_per_account as (

    select
        account_id,
        sum(amount_reporting) as cash_collected

    from payments

    group by account_id

),

tickets_per_account as (

    select
        account_id,
        count(*) as ticket_count,
        sum({{ service_cost_of_ticket('priority') }}) as service_cost

    from tickets

    group by account_id

),

surveys_per_account as (

    select
        account_id,
        avg(csat) as avg_csat,
        100.0 * (
            count(*) filter (where nps_category = 'promoter')
            - count(*) filter (where nps_category = 'detractor')
        ) / nullif(count(nps_category), 0) as nps

    from surveys

    group by account_id

),

latest_contracts as (

    select distinct on (account_id)
        account_id,
        status

    from service_contracts

    where is_deleted is not true and start_date <= {{ get_run_date() }}

    order by account_id asc, end_date desc, start_date desc, contract_id desc

),

account_ids as (

    select account_id from orders_per_account
    union
    select account_id from invoices_per_account
    union
    select account_id from payments_per_account
    union
    select account_id from tickets_per_account
    union
    select account_id from surveys_per_account
    union
    select account_id from latest_contracts

),

final as (

    select
        account_ids.account_id,
        orders_per_account.first_order_date,
        orders_per_account.last_order_date,
        coalesce(orders_per_account.order_count, 0) as order_count,
        coalesce(orders_per_account.bookings_amount, 0) as bookings_amount,
        coalesce(orders_per_account.product_cost, 0) as product_cost,
        coalesce(orders_per_account.gross_margin, 0) as gross_margin,
        coalesce(orders_per_account.bookings_recent, 0) as bookings_recent,
        coalesce(orders_per_account.bookings_prior, 0) as bookings_prior,
        coalesce(invoices_per_account.invoiced_amount, 0) as invoiced_amount,
        coalesce(payments_per_account.cash_collected, 0) as cash_collected,
        coalesce(tickets_per_account.ticket_count, 0) as ticket_count,
        coalesce(tickets_per_account.service_cost, 0) as service_cost,
        surveys_per_account.avg_csat,
        surveys_per_account.nps,
        coalesce(latest_contracts.status = 'lapsed', false) as has_lapsed_renewal

    from account_ids

    left join orders_per_account on account_ids.account_id = orders_per_account.account_id
    left join invoices_per_account on account_ids.account_id = invoices_per_account.account_id
    left join payments_per_account on account_ids.account_id = payments_per_account.account_id
    left join tickets_per_account on account_ids.account_id = tickets_per_account.account_id
    left join surveys_per_account on account_ids.account_id = surveys_per_account.account_id
    left join latest_contracts on account_ids.account_id = latest_contracts.account_id

    where account_ids.account_id is not null

)

select * from final
