with

source as (

    select * from {{ source('crm', 'targets') }}

),

deletions as (

    -- the API's deleted-records listing: when each deleted record went
    select
        target_id,
        max(cast(deleted_at as timestamptz)) as deleted_at
    from {{ source('crm', 'targets__deleted') }}
    group by target_id

),

renamed as (

    select
        -- ids
        target_id,
        rep_id,

        -- attributes
        lower(product_line) as product_line,
        cast(date_trunc('month', cast(target_month as date)) as date) as target_month,

        -- amounts (original currency; see var reporting_currency)
        cast(amount as numeric(18, 2)) as target_amount,
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

    {{ dedupe_latest('renamed', 'target_id', 'updated_at') }}

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
            deduplicated.target_id = deletions.target_id
            and deletions.deleted_at >= coalesce(deduplicated.updated_at, '-infinity')

)

select * from final
