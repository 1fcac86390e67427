with

source as (

    select * from {{ source('crm', 'accounts') }}

),

deletions as (

    -- the API's deleted-records listing: when each deleted record went
    select
        account_id,
        max(cast(deleted_at as timestamptz)) as deleted_at
    from {{ source('crm', 'accounts__deleted') }}
    group by account_id

),

renamed as (

    select
        -- ids
        account_id,
        owner_rep_id,

        -- attributes
        account_name,
        industry,
        region,
        segment,
        acquisition_channel,

        -- timestamps
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'account_id', 'updated_at') }}

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
            deduplicated.account_id = deletions.account_id
            and deletions.deleted_at >= coalesce(deduplicated.updated_at, '-infinity')

)

select * from final
