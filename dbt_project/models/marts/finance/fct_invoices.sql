-- One row per invoice: what was billed, what has been paid on it, and when it was paid in full.
{{
    config(
        materialized='incremental',
        unique_key='invoice_id',
        post_hook="{{ delete_keys_gone_from(ref('int_invoices_collected'), 'invoice_id') }}",
    )
}}

with

invoices as (

    select * from {{ ref('int_invoices_collected') }}

),

payments as (

    select * from {{ ref('stg_finance__payments') }}

),

opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

),

{% if is_incremental() %}
-- an invoice loaded since the last run, paid since, whose rate was (re)published since, or
-- whose opportunity changed owner since
changed_invoices as (

    select invoice_id from invoices where _loaded_at > {{ incremental_cutoff() }}
    union
    select invoices.invoice_id
    from invoices
    {{ join_fx_rate('fx', 'invoices.currency', 'invoices.invoice_date') }}
    where fx._loaded_at > {{ incremental_cutoff() }}
    union
    select invoices.invoice_id
    from invoices
    inner join opportunities on invoices.opportunity_id = opportunities.opportunity_id
    where opportunities._loaded_at > {{ incremental_cutoff() }}

),
{% endif %}

-- cumulative amount paid on the invoice at the end of each day with a payment
-- (payments of the same day are peers of the window, so they count together)
payments_cumulated as (

    select
        payments.invoice_id,
        payments.paid_on,
        sum(payments.payment_amount) over (
            partition by payments.invoice_id
            order by payments.paid_on
        ) as cumulative_paid_amount

    from payments

),

fully_paid as (

    select
        payments_cumulated.invoice_id,
        min(payments_cumulated.paid_on) as fully_paid_on

    from payments_cumulated

    inner join invoices
        on payments_cumulated.invoice_id = invoices.invoice_id

    where payments_cumulated.cumulative_paid_amount >= invoices.gross_amount

    group by payments_cumulated.invoice_id

),

final as (

    select
        cast(invoices.invoice_id as text) as invoice_id,
        cast(invoices.account_id as text) as account_id,
        cast(invoices.opportunity_id as text) as opportunity_id,
        cast(opportunities.owner_rep_id as text) as owner_rep_id,
        cast(invoices.invoice_date as date) as invoice_date,
        cast(invoices.due_date as date) as due_date,
        cast(invoices.net_amount as numeric(18, 2)) as net_amount,
        cast(invoices.tax_amount as numeric(18, 2)) as tax_amount,
        cast(invoices.gross_amount as numeric(18, 2)) as gross_amount,
        cast(invoices.currency as text) as currency,
        -- in the reporting currency at the rate of the invoice date
        cast(fx.rate_to_reporting as numeric(24, 12)) as fx_rate_to_reporting,
        cast({{ to_reporting_currency('invoices.net_amount', 'fx') }} as numeric(18, 2))
            as net_amount_reporting,
        cast({{ to_reporting_currency('invoices.tax_amount', 'fx') }} as numeric(18, 2))
            as tax_amount_reporting,
        cast({{ to_reporting_currency('invoices.gross_amount', 'fx') }} as numeric(18, 2))
            as gross_amount_reporting,
        cast(invoices.cash_collected as numeric(18, 2)) as amount_paid,
        cast(invoices.outstanding_amount as numeric(18, 2)) as outstanding_amount,
        cast({{ to_reporting_currency('invoices.outstanding_amount', 'fx') }} as numeric(18, 2))
            as outstanding_amount_reporting,
        cast(fully_paid.fully_paid_on as date) as fully_paid_on,
        cast(fully_paid.fully_paid_on - invoices.invoice_date as integer) as days_to_pay,
        cast(
            greatest(invoices._loaded_at, opportunities._loaded_at, fx._loaded_at) as timestamptz
        ) as _loaded_at

    from invoices

    left join opportunities
        on invoices.opportunity_id = opportunities.opportunity_id

    left join fully_paid
        on invoices.invoice_id = fully_paid.invoice_id

    {{ join_fx_rate('fx', 'invoices.currency', 'invoices.invoice_date') }}

    {% if is_incremental() %}
    where invoices.invoice_id in (select invoice_id from changed_invoices)
    {% endif %}

)

select * from final
