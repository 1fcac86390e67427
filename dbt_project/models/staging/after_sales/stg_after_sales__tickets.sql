with

source as (

    select * from {{ source('after_sales', 'tickets') }}

),

deletions as (

    -- the API's deleted-records listing: when each deleted record went
    select
        ticket_id,
        max(cast(deleted_at as timestamptz)) as deleted_at
    from {{ source('after_sales', 'tickets__deleted') }}
    group by ticket_id

),

renamed as (

    select
        -- ids
        ticket_id,
        account_id,

        -- attributes
        lower(priority) as priority,
        lower(status) as status,

        -- timestamps
        cast(opened_at as timestamptz) as opened_at,
        cast(first_response_at as timestamptz) as first_response_at,
        cast(resolved_at as timestamptz) as resolved_at,
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'ticket_id', 'updated_at') }}

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
            deduplicated.ticket_id = deletions.ticket_id
            and deletions.deleted_at >= coalesce(deduplicated.updated_at, '-infinity')

)

select * from final
