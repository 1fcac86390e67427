with

source as (

    select * from {{ source('crm', 'leads') }}

),

deletions as (

    -- the API's deleted-records listing: when each deleted record went
    select
        lead_id,
        max(cast(deleted_at as timestamptz)) as deleted_at
    from {{ source('crm', 'leads__deleted') }}
    group by lead_id

),

renamed as (

    select
        -- ids
        lead_id,
        owner_rep_id,
        converted_account_id,
        converted_opportunity_id,

        -- attributes
        lower(source_channel) as source_channel,
        lower(status) as status,
        lower(status) = 'converted' as is_converted,

        -- timestamps
        cast(created_at as timestamptz) as created_at,
        {{ to_reporting_date('cast(created_at as timestamptz)') }} as created_date,
        cast(converted_at as timestamptz) as converted_at,
        {{ to_reporting_date('cast(converted_at as timestamptz)') }} as converted_date,
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'lead_id', 'updated_at') }}

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
            deduplicated.lead_id = deletions.lead_id
            and deletions.deleted_at >= coalesce(deduplicated.updated_at, '-infinity')

)

select * from final
