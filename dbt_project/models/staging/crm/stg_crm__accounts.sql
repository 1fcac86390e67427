with

source as (

    select * from {{ source('crm', 'accounts') }}

),

deletions as (

    {{ deletions_of('crm', 'accounts', 'account_id') }}

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

    {{ flag_deleted('deduplicated', 'deletions', 'account_id', 'updated_at') }}

)

select * from final
