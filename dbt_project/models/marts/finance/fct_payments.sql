-- One row per payment received, with the invoice's account and rep.
with

payments as (

    select * from {{ ref('stg_finance__payments') }}

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

final as (

    select
        cast(payments.payment_id as text) as payment_id,
        cast(payments.invoice_id as text) as invoice_id,
        cast(invoices.account_id as text) as account_id,
        cast(invoices.owner_rep_id as text) as owner_rep_id,
        cast(payments.paid_on as date) as paid_on,
        cast(payments.payment_amount as numeric(18, 2)) as amount,
        cast(payments.currency as text) as currency,
        cast(payments.payment_method as text) as method

    from payments

    left join invoices
        on payments.invoice_id = invoices.invoice_id

)

select * from final
