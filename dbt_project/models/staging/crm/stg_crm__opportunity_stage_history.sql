{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=marked_table_indexes('history_id'),
        pre_hook="{{ collect_changed_keys('crm', 'opportunity_stage_history', 'history_id', deletions=true) }}",
    )
}}

with

source as (

    select * from {{ source('crm', 'opportunity_stage_history') }}
    where {{ changed_key('history_id') }}

),

stages as (

    select * from {{ ref('opportunity_stages') }}

),

deletions as (

    {{ deletions_of('crm', 'opportunity_stage_history', 'history_id') }}

),

renamed as (

    select
        -- ids
        history_id,
        opportunity_id,

        -- attributes
        lower(source.stage) as stage,
        stages.stage_order,

        -- timestamps
        cast(entered_at as timestamptz) as entered_at,
        {{ to_reporting_date('cast(entered_at as timestamptz)') }} as entered_date,

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

    {{ dedupe_latest('renamed', 'history_id', 'entered_at') }}

),

final as (

    {{ flag_deleted('deduplicated', 'deletions', 'history_id', 'entered_at') }}

)

select
    final.*,
    {{ build_marker() }} as _built_at

from final
