-- Every version of every customer account the CRM feed delivered (raw is append-by-batch), one
-- row per account and updated_at: the history dim_customer is built from. A version delivered
-- twice keeps its newest load. stg_crm__accounts is the latest of these.
with

source as (

    select * from {{ source('crm', 'accounts') }}

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

    -- one row per (account_id, updated_at): newest load, then highest _origin
    {{ dedupe_latest('renamed', 'account_id, updated_at', 'updated_at') }}

),

final as (

    select * from deduplicated

)

select * from final
