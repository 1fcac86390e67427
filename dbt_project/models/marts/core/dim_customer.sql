-- Customers (CRM accounts) with history (SCD2): one row per version of an account as the CRM
-- recorded it, valid from its updated_at until the next version's. Built from every version
-- raw keeps (see stg_crm__account_versions for why not a snapshot), and the unknown member
-- (macro unknown_account_id) for the deals without an account.
with

account_versions as (

    select * from {{ ref('stg_crm__account_versions') }}

),

versioned as (

    {{ scd2_versions('account_versions', 'account_id') }}

),

final as (

    select
        cast(version_key as text) as customer_key,
        cast(account_id as text) as customer_id,
        cast(account_name as text) as customer_name,
        cast(industry as text) as industry,
        cast(region as text) as region,
        cast(segment as text) as segment,
        cast(acquisition_channel as text) as acquisition_channel,
        cast(owner_rep_id as text) as owner_rep_id,
        cast(created_at as timestamptz) as created_at,
        cast(valid_from as timestamptz) as valid_from,
        cast(valid_to as timestamptz) as valid_to,
        cast(is_current as boolean) as is_current,
        cast(updated_at as timestamptz) as updated_at,
        cast(_loaded_at as timestamptz) as _loaded_at

    from versioned

    union all

    -- the unknown member: the deals the CRM gives no account count under it
    select
        md5({{ unknown_account_id() }}) as customer_key,
        {{ unknown_account_id() }} as customer_id,
        cast('Unknown account' as text) as customer_name,
        cast(null as text) as industry,
        cast(null as text) as region,
        cast(null as text) as segment,
        cast(null as text) as acquisition_channel,
        cast(null as text) as owner_rep_id,
        cast(null as timestamptz) as created_at,
        cast('1900-01-01 00:00:00+00' as timestamptz) as valid_from,
        cast(null as timestamptz) as valid_to,
        true as is_current,
        cast(null as timestamptz) as updated_at,
        cast(null as timestamptz) as _loaded_at

)

select * from final
