with

source as (

    select * from {{ source('crm', 'opportunity_stage_history') }}

),

deletions as (

    -- the API's deleted-records listing: when each deleted record went
    select
        history_id,
        max(cast(deleted_at as timestamptz)) as deleted_at
    from {{ source('crm', 'opportunity_stage_history__deleted') }}
    group by history_id

),

renamed as (

    select
        -- ids
        history_id,
        opportunity_id,

        -- attributes
        lower(stage) as stage,
        {{ opportunity_stage_order('lower(stage)') }} as stage_order,

        -- timestamps
        cast(entered_at as timestamptz) as entered_at,
        {{ to_reporting_date('cast(entered_at as timestamptz)') }} as entered_date,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'history_id', 'entered_at') }}

),

final as (

    -- deleted in the source when deleted after its latest version; the row stays, flagged
    select
        deduplicated.*,
        deletions.deleted_at is not null as is_deleted,
        deletions.deleted_at
    from deduplicated
    left join deletions
        on
            deduplicated.history_id = deletions.history_id
            and deletions.deleted_at >= coalesce(deduplicated.entered_at, '-infinity')

)

select * from final
