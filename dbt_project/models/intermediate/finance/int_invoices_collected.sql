-- One row per invoice with the cash collected against it so far.
with

invoices as (

    select * from {{ ref('stg_finance__invoices') }}

),

payments as (

    select * from {{ ref('stg_finance__payments') }}

),

payments_per_invoice as (

    select
        invoice_id,
        cast(sum(payment_amount) as numeric(18, 2)) as cash_collected,
        count(*) as payment_count,
        max(paid_on) as last_paid_on,
        max(_loaded_at) as last_loaded_at

    from payments

    group by invoice_id

),

final as (

    select
        invoices.invoice_id,
        invoices.opportunity_id,
        invoices.account_id,
        invoices.invoice_date,
        invoices.due_date,
        invoices.gross_amount,
        invoices.tax_amount,
        invoices.net_amount,
        invoices.currency,
        cast(coalesce(payments_per_invoice.cash_collected, 0) as numeric(18, 2)) as cash_collected,
        coalesce(cast(payments_per_invoice.payment_count as integer), 0) as payment_count,
        payments_per_invoice.last_paid_on,
        cast(
            invoices.gross_amount - coalesce(payments_per_invoice.cash_collected, 0)
            as numeric(18, 2)
        ) as outstanding_amount,
        -- when the newest of the invoice and its payments was loaded (drives incremental facts)
        greatest(invoices._loaded_at, payments_per_invoice.last_loaded_at) as _loaded_at

    from invoices

    left join payments_per_invoice
        on invoices.invoice_id = payments_per_invoice.invoice_id

)

select * from final
