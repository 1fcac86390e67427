{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=marked_table_indexes('survey_id'),
        pre_hook="{{ collect_changed_keys('after_sales', 'surveys', 'survey_id', deletions=true) }}",
    )
}}

with

source as (

    select * from {{ source('after_sales', 'surveys') }}
    where {{ changed_key('survey_id') }}

),

deletions as (

    {{ deletions_of('after_sales', 'surveys', 'survey_id') }}

),

renamed as (

    select
        -- ids
        survey_id,
        ticket_id,
        account_id,

        -- scores
        cast(csat as integer) as csat,
        cast(nps as integer) as nps,

        -- timestamps
        cast(submitted_at as timestamptz) as submitted_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'survey_id', 'submitted_at') }}

),

final as (

    {{ flag_deleted('deduplicated', 'deletions', 'survey_id', 'submitted_at') }}

)

select
    final.*,
    {{ build_marker() }} as _built_at

from final
