{#-
    Business date of a timestamptz column in the reporting time zone (var reporting_timezone,
    UTC by default), independent of the session's TimeZone setting.
-#}
{% macro to_reporting_date(column) -%}
    cast(({{ column }} at time zone '{{ var("reporting_timezone", "UTC") }}') as date)
{%- endmacro %}
