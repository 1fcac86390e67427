{#-
    SQL expression: amount_column converted to the reporting currency (var reporting_currency).
    Every feed is in the reporting currency today (staging tests fail on any other), so the
    amount passes through when its currency is the reporting currency and is null otherwise.
    FX conversion (a rate per currency and date_column) slots in here, and every mart's
    *_reporting amount follows.
-#}
{% macro to_reporting_currency(amount_column, currency_column, date_column) -%}
    case
        when {{ currency_column }} = '{{ var("reporting_currency") }}' then {{ amount_column }}
    end
{%- endmacro %}
