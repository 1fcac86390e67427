{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=marked_table_indexes('invoice_id'),
        pre_hook="{{ collect_changed_keys('finance', 'invoices', 'invoice_id') }}",
    )
}}

with

source as (

    select * from {{ source('finance', 'invoices') }}
    where {{ changed_key('invoice_id') }}

),

renamed as (

    select
        -- ids
        invoice_id,
        opportunity_id,
        account_id,

        -- dates
        cast(invoice_date as date) as invoice_date,
        cast(due_date as date) as due_date,

        -- amounts (original currency; see var reporting_currency).
        -- The ERP exports amount net of tax (金额) and tax_amount (税额) beside it; the customer
        -- owes and pays the gross total (价税合计).
        cast(amount as numeric(18, 2)) as net_amount,
        cast(coalesce(tax_amount, '0') as numeric(18, 2)) as tax_amount,
        cast(
            cast(amount as numeric(18, 2)) + cast(coalesce(tax_amount, '0') as numeric(18, 2))
            as numeric(18, 2)
        ) as gross_amount,
        upper(currency) as currency,

        -- timestamps
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'invoice_id', 'updated_at') }}

),

final as (

    select * from deduplicated

)

select
    final.*,
    {{ build_marker() }} as _built_at

from final
