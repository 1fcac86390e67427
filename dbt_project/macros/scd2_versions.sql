{#-
    SCD2 validity of the versions of a record (one row per version, e.g. stg_crm__rep_versions):
    every column of the relation plus
      - valid_from: when the version took effect, its CRM updated_at; the first version of a
        record is valid from 1900-01-01, so a fact dated before the CRM's first recorded change
        still finds the record's earliest known attributes;
      - valid_to: the next version's updated_at (exclusive); null for the current version;
      - is_current: valid_to is null;
      - version_key: the surrogate key of the version, md5 of 'natural key|updated_at in UTC (ISO 8601,
        microseconds)', stable across full refreshes, backfills and session time zones.
    As-of join: fact_time >= valid_from and (fact_time < valid_to or valid_to is null).
-#}
{% macro scd2_versions(relation, natural_key, version_at='updated_at') -%}
    select
        md5(
            {{ natural_key }} || '|' || coalesce(
                to_char({{ version_at }} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), ''
            )
        ) as version_key,
        *,
        case
            when row_number() over (
                partition by {{ natural_key }} order by {{ version_at }} nulls first
            ) = 1
                then cast('1900-01-01 00:00:00+00' as timestamptz)
            else {{ version_at }}
        end as valid_from,
        lead({{ version_at }}) over (
            partition by {{ natural_key }} order by {{ version_at }} nulls first
        ) as valid_to,
        row_number() over (
            partition by {{ natural_key }} order by {{ version_at }} desc nulls last
        ) = 1 as is_current
    from {{ relation }}
{%- endmacro %}


{#- SQL condition: the version of `versions` (an SCD2 relation alias) valid at timestamp `at`. -#}
{% macro scd2_valid_at(versions, at) -%}
    {{ at }} >= {{ versions }}.valid_from
    and ({{ at }} < {{ versions }}.valid_to or {{ versions }}.valid_to is null)
{%- endmacro %}
