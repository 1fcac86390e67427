with

source as (

    select * from {{ source('crm', 'activities') }}

),

deletions as (

    -- the API's deleted-records listing: when each deleted record went
    select
        activity_id,
        max(cast(deleted_at as timestamptz)) as deleted_at
    from {{ source('crm', 'activities__deleted') }}
    group by activity_id

),

renamed as (

    select
        -- ids
        activity_id,
        rep_id,
        account_id,
        opportunity_id,

        -- attributes
        lower(activity_type) as activity_type,

        -- timestamps
        cast(occurred_at as timestamptz) as occurred_at,
        {{ to_reporting_date('cast(occurred_at as timestamptz)') }} as occurred_date,
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'activity_id', 'updated_at') }}

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
            deduplicated.activity_id = deletions.activity_id
            and deletions.deleted_at >= coalesce(deduplicated.updated_at, '-infinity')

)

select * from final
