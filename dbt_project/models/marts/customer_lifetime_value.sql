-- Historical customer lifetime value: one row per account, accounts without orders included
-- with zero counts and amounts.
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

bookings as (

    select * from {{ ref('fct_bookings') }}

),

invoices as (

    select * from {{ ref('int_invoices_collected') }}

),

tickets as (

    select * from {{ ref('stg_after_sales__tickets') }}

),

surveys as (

    select * from {{ ref('stg_after_sales__surveys') }}

),

orders_per_account as (

    select
        account_id,
        min(booking_date) as first_order_date,
        max(booking_date) as last_order_date,
        count(*) as order_count,
        sum(booking_amount_reporting) as bookings_amount

    from bookings

    group by account_id

),

invoices_per_account as (

    select
        account_id,
        sum(net_amount) as invoiced_amount,
        sum(cash_collected) as cash_collected

    from invoices

    group by account_id

),

tickets_per_account as (

    select
        account_id,
        count(*) as ticket_count

    from tickets

    group by account_id

),

surveys_per_account as (

    select
        account_id,
        avg(csat) as avg_csat

    from surveys

    group by account_id

),

joined as (

    select
        accounts.account_id,
        accounts.account_name,
        accounts.industry,
        accounts.region,
        accounts.segment,
        accounts.acquisition_channel,
        accounts.owner_rep_id,
        orders_per_account.first_order_date,
        orders_per_account.last_order_date,
        coalesce(orders_per_account.order_count, 0) as order_count,
        coalesce(orders_per_account.bookings_amount, 0) as bookings_amount,
        coalesce(invoices_per_account.invoiced_amount, 0) as invoiced_amount,
        coalesce(invoices_per_account.cash_collected, 0) as cash_collected,
        coalesce(tickets_per_account.ticket_count, 0) as ticket_count,
        surveys_per_account.avg_csat

    from accounts

    left join orders_per_account
        on accounts.account_id = orders_per_account.account_id

    left join invoices_per_account
        on accounts.account_id = invoices_per_account.account_id

    left join tickets_per_account
        on accounts.account_id = tickets_per_account.account_id

    left join surveys_per_account
        on accounts.account_id = surveys_per_account.account_id

),

final as (

    select
        cast(account_id as text) as customer_id,
        cast(account_name as text) as customer_name,
        cast(industry as text) as industry,
        cast(region as text) as region,
        cast(segment as text) as segment,
        cast(acquisition_channel as text) as acquisition_channel,
        cast(owner_rep_id as text) as owner_rep_id,
        cast(first_order_date as date) as first_order_date,
        cast(last_order_date as date) as last_order_date,
        cast(order_count as integer) as order_count,
        cast(bookings_amount as numeric(18, 2)) as bookings_amount,
        cast(bookings_amount / nullif(order_count, 0) as numeric(18, 2)) as average_deal_size,
        cast(invoiced_amount as numeric(18, 2)) as invoiced_amount,
        cast(cash_collected as numeric(18, 2)) as cash_collected,
        cast(ticket_count as integer) as ticket_count,
        cast(avg_csat as numeric(4, 2)) as avg_csat,
        cast({{ get_run_date() }} - first_order_date as integer) as tenure_days

    from joined

)

select * from final
