{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=marked_table_indexes('contract_id'),
        pre_hook="{{ collect_changed_keys('after_sales', 'service_contracts', 'contract_id', deletions=true) }}",
    )
}}

with

source as (

    select * from {{ source('after_sales', 'service_contracts') }}
    where {{ changed_key('contract_id') }}

),

deletions as (

    {{ deletions_of('after_sales', 'service_contracts', 'contract_id') }}

),

renamed as (

    select
        -- ids
        contract_id,
        account_id,
        renewed_from_contract_id,

        -- attributes
        lower(status) as status,
        renewed_from_contract_id is not null as is_renewal,

        -- dates
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,

        -- amounts (original currency; see var reporting_currency)
        cast(annual_fee as numeric(18, 2)) as annual_fee,
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

    {{ dedupe_latest('renamed', 'contract_id', 'updated_at') }}

),

final as (

    {{ flag_deleted('deduplicated', 'deletions', 'contract_id', 'updated_at') }}

)

select
    final.*,
    {{ build_marker() }} as _built_at

from final
