{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=marked_table_indexes('payment_id'),
        pre_hook="{{ collect_changed_keys('finance', 'payments', 'payment_id') }}",
    )
}}

with

source as (

    select * from {{ source('finance', 'payments') }}
    where {{ changed_key('payment_id') }}

),

renamed as (

    select
        -- ids
        payment_id,
        invoice_id,

        -- attributes
        method as payment_method,

        -- dates
        cast(paid_on as date) as paid_on,

        -- amounts (original currency; see var reporting_currency)
        cast(amount as numeric(18, 2)) as payment_amount,
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

    {{ dedupe_latest('renamed', 'payment_id', 'updated_at') }}

),

final as (

    select * from deduplicated

)

select
    final.*,
    {{ build_marker() }} as _built_at

from final
