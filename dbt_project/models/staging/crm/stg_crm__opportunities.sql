{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=marked_table_indexes('opportunity_id'),
        pre_hook="{{ collect_changed_keys('crm', 'opportunities', 'opportunity_id', deletions=true) }}",
    )
}}

with

source as (

    select * from {{ source('crm', 'opportunities') }}
    where {{ changed_key('opportunity_id') }}

),

stages as (

    select * from {{ ref('opportunity_stages') }}

),

deletions as (

    {{ deletions_of('crm', 'opportunities', 'opportunity_id') }}

),

renamed as (

    select
        -- ids
        opportunity_id,
        -- a deal without an account is a real deal: it counts under the unknown account
        coalesce(account_id, {{ unknown_account_id() }}) as account_id,
        owner_rep_id,

        -- attributes
        lower(product_line) as product_line,
        lower(source.stage) as stage,
        -- order and outcome from the business's stage list (seeds/opportunity_stages.csv)
        stages.stage_order,
        coalesce(stages.outcome = 'won', false) as is_won,
        coalesce(stages.outcome = 'lost', false) as is_lost,
        lead_source,

        -- amounts (original currency; see var reporting_currency)
        cast(amount as numeric(18, 2)) as amount,
        upper(currency) as currency,
        -- a won deal the CRM gives no value: won in the counts, out of every amount (never a 0)
        coalesce(stages.outcome = 'won', false) and amount is null as is_won_without_amount,

        -- dates and timestamps
        cast(created_at as timestamptz) as created_at,
        cast(expected_close_date as date) as expected_close_date,
        cast(closed_at as timestamptz) as closed_at,
        {{ to_reporting_date('cast(closed_at as timestamptz)') }} as closed_date,
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

    left join stages
        on lower(source.stage) = stages.stage

),

deduplicated as (

    {{ dedupe_latest('renamed', 'opportunity_id', 'updated_at') }}

),

final as (

    {{ flag_deleted('deduplicated', 'deletions', 'opportunity_id', 'updated_at') }}

)

select
    final.*,
    {{ build_marker() }} as _built_at

from final
