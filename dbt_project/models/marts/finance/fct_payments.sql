-- One row per payment received, with the invoice's account and rep.
{{
    config(
        materialized='incremental',
        unique_key='payment_id',
        post_hook="{{ delete_keys_gone_from(ref('stg_finance__payments'), 'payment_id') }}",
    )
}}

with

payments as (

    select * from {{ ref('stg_finance__payments') }}

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

{% if is_incremental() %}
-- a payment loaded since the last run, or one whose invoice (account, rep) changed since
changed_payments as (

    select payment_id from payments where _loaded_at > {{ incremental_cutoff() }}
    union
    select payments.payment_id
    from payments
    {{ join_fx_rate('fx', 'payments.currency', 'payments.paid_on') }}
    where fx._loaded_at > {{ incremental_cutoff() }}
    union
    select payments.payment_id
    from payments
    inner join invoices on payments.invoice_id = invoices.invoice_id
    where invoices._loaded_at > {{ incremental_cutoff() }}

),
{% endif %}

final as (

    select
        cast(payments.payment_id as text) as payment_id,
        cast(payments.invoice_id as text) as invoice_id,
        cast(invoices.account_id as text) as account_id,
        cast(invoices.owner_rep_id as text) as owner_rep_id,
        cast(payments.paid_on as date) as paid_on,
        cast(payments.payment_amount as numeric(18, 2)) as amount,
        cast(payments.currency as text) as currency,
        -- in the reporting currency at the rate of the day the cash was received
        cast(fx.rate_to_reporting as numeric(24, 12)) as fx_rate_to_reporting,
        cast({{ to_reporting_currency('payments.payment_amount', 'fx') }} as numeric(18, 2))
            as amount_reporting,
        cast(payments.payment_method as text) as method,
        cast(
            greatest(payments._loaded_at, invoices._loaded_at, fx._loaded_at) as timestamptz
        ) as _loaded_at

    from payments

    left join invoices
        on payments.invoice_id = invoices.invoice_id

    {{ join_fx_rate('fx', 'payments.currency', 'payments.paid_on') }}

    {% if is_incremental() %}
    where payments.payment_id in (select payment_id from changed_payments)
    {% endif %}

)

select * from final
