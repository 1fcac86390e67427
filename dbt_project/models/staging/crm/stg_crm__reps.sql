with

source as (

    select * from {{ source('crm', 'reps') }}

),

deletions as (

    -- the API's deleted-records listing: when each deleted record went
    select
        rep_id,
        max(cast(deleted_at as timestamptz)) as deleted_at
    from {{ source('crm', 'reps__deleted') }}
    group by rep_id

),

renamed as (

    select
        -- ids
        rep_id,
        manager_id as manager_rep_id,

        -- attributes
        full_name as rep_name,
        email,
        team,
        region,
        cast(is_active as boolean) as is_active,

        -- dates and timestamps
        cast(hire_date as date) as hire_date,
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'rep_id', 'updated_at') }}

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
            deduplicated.rep_id = deletions.rep_id
            and deletions.deleted_at >= coalesce(deduplicated.updated_at, '-infinity')

)

select * from final
